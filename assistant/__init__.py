"""The assistant: one chat message from the web layer to the reply, in layers that import downwards only.

    serving/    the shop, REST API, Gradio views, settings           (imports everything below)
    pipeline.py one message: dialogue -> ranking.py or policies -> reply, as typed events (events.py)
    sessions.py conversations and carts between messages: this process or Redis   (imports dialogue, catalog)
    dialogue/   kind of message, constraints, references, untrusted-text guards   (imports catalog)
    reply/      facts, prompt, backends, verifier                     (imports catalog, dialogue's guards)
    recsys/     recommender, purchase predictors, datasets, training (imports catalog)
    evaluation/ offline measurements (imports anything; imported by nothing but its command line)

The command lines are `python -m assistant.evaluate` and `python -m assistant.train`; tests/test_layout.py checks
the import rules.
"""
