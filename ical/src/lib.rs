//! iCalendar and vCard for Madang, on top of `calcard`: the object model,
//! recurrence expansion with explicit limits, and time zones. Pure: no I/O.

pub mod filter;
