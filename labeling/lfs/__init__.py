"""Python labeling functions referenced from task files (``ref = "labeling.lfs.<module>:<name>"``)."""
