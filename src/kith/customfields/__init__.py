"""Custom fields: typed fields an admin defines per object (contacts, companies); see docs/custom-fields.md."""
