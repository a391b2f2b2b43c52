"""Dialogue: understanding one message in its conversation. What kind of message it is (intent.py), the catalog's
words (vocabulary.py), the constraints it states (constraints.py), the carried state and references to shown
products (context.py), and the guards for untrusted text (sanitize.py, injection.py).

May import only catalog (and itself). assistant.reply imports its guards for the prompt; it imports nothing back.
"""
