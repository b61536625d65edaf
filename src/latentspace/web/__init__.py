"""The browser side: the scatter component (report and explorer) and the explorer app."""
