"""goldloop data layer: workspace, PostgreSQL store, ingestion, versioned splits and exports."""
