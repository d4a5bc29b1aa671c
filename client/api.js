// The JSON API client.
