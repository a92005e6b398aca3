"""The panes of the hptui screen, one widget per module."""
