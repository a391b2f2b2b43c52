"""Assistant side: recommendation, ranking, conversation and reply generation."""
