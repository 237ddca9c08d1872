"""The domain vocabulary every feature shares: semantic conventions, the business event, the object
reference, periods and instants. Plain values only: no I/O and no database driver."""
