"""Recipes: standalone scripts that run ON the training or serving machine.

Each recipe is a plain script driven by a JSON config (configs as data, as in torchtune). A recipe
imports only the standard library and the ML stack (torch, transformers, peft, trl, datasets,
bitsandbytes, vllm) and never a tailor package, so it can be copied to a bare GPU machine and run
as ``python train.py --config run.json``.

- ``tiny_model``: builds a tiny random-init Llama model and tokenizer offline, for tests and demos.
- ``train``: LoRA / QLoRA / full supervised fine-tuning with checkpoints, resume and metrics.
"""
