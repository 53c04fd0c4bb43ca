"""Classical localizers the scene coordinate regression is measured against."""
