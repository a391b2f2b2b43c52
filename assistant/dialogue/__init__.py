"""Dialogue: understanding one message in its conversation. What kind of message it is (acts.py: a classifier
learned from real requests), the catalog's words (vocabulary.py, spelling.py), the constraints it states
(constraints.py), the carried state and references to shown products (context.py), the message's language
(language.py), and the guards for untrusted text (sanitize.py, injection.py).

May import only catalog (and itself). assistant.reply imports its guards for the prompt; it imports nothing back.
Training the act classifier (train_acts.py) is imported only by the training command line.
"""
