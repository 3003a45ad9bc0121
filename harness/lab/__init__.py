"""The demo lab: a synthetic world, its suites and a tiny base model trained on it.

* `world` — seeded entities, skills and support tickets;
* `corpus` — pre-training episodes in the shapes harness prompts take;
* `suites` — writes the `demo-*` suites (byte-identical for a seed);
* `model` — tokenizer, model config, training loop, checkpoint (`harness/lab/model/`);
* `probes` — go/no-go probes of in-context recall, reading, facts, sums, copying, few-shot;
* `cli` — `harness lab build-suites | build-model | probe`.

Nothing here is imported by harness at start-up; torch and transformers load on use.
See docs/demo.md.
"""
