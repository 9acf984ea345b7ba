"""goldloop weak supervision: task files, labeling functions, appliers and the label model."""
