"""Catalog side of the shopping assistant: load, clean, validate, embed and index products."""
