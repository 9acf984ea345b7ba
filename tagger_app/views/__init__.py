"""The tagger's blueprints: auth, label, review, table, report and the JSON api."""
