"""Reply: turning the facts of one turn into words a shopper reads. The facts (facts.py), the prompt (prompt.py), a
`Backend` that streams text (backends.py; template.py is the model-free one), and the verifier (grounding.py).

May import catalog and assistant.dialogue's guards for untrusted text (sanitize, injection); nothing above.
"""
