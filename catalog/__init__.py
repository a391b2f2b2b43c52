"""The catalog: load, clean, validate, embed and index products (Chroma), the shop's policies, the behaviour event
store and the built-in demo shop. The bottom layer: imports nothing from assistant.
"""
