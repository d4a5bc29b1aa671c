//! iCalendar and vCard for Madang, on top of `calcard`: the object model,
//! recurrence expansion with explicit limits, and time zones. Pure: no I/O.
//!
//! Empty until the CalDAV issue; the crate exists now so that the dependency
//! direction `ical` ← `dav` ← `madang` is fixed from the first commit.
