"""Case desk of a pathology lab: fine-needle-aspirate cases, final diagnoses, audit trail."""
