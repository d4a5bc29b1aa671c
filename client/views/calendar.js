// The calendar view.
