"""All user-facing wording, assembled from the knowledge base's texts; plain text, no markup."""
