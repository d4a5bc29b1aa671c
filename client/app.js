// The web client: boot.
