"""Training (offline; the `train` extra: ultralytics, AGPL-3.0, and torch). Never imported by serving.

Run it through `streetsight train ...` (which hands over to the training venv) or `python -m training ...`
inside that venv. Steps, one module each: env (offline set-up), fit (train), export (ONNX), evaluate
(held-out split), publish (register, versions, promotion), loop (reviews -> dataset -> model).
"""
