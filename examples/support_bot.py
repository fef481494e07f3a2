"""A support bot that gets better from thumbs-up: a plain LCEL chain, moot's live learner and few-shot memory.

The app is three lines of LangChain. moot adds, without changing them:

* every reply is logged to the experience library (through ``learner.config``);
* the "user" gives a thumbs-up or a thumbs-down with the right answer (here a grader that
  checks the reply for the fact it should state);
* the bot's prompts show its most similar past thumbs-up answers (few-shot memory);
* in the background, the learner distils thumbs-up replies and corrections into the
  ``support`` role's LoRA adapter, gates it on held-out chats, and hot-swaps it in.

Run it (about 10 minutes on 2 cores; ``--chats 24 --max-steps 2`` for a smoke run)::

    python examples/support_bot.py --chats 96
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from moot import Learner, LearnerConfig, LocalModelPool
from moot.nodes import FewShotConfig, FewShotMemory
from moot.training import LoraTrainingConfig

FAQ = [  # (ways a customer asks, the fact the answer must state, the answer a human would give)
    (["When do you open?", "What are your opening hours?", "Are you open at 9?"], "9am to 5pm",
     "We are open from 9am to 5pm, Monday to Saturday."),
    (["How do I return an item?", "Can I send something back?", "What is the return policy?"], "30 days",
     "You can return any item within 30 days for a full refund."),
    (["Do you ship abroad?", "Can you deliver to France?", "Is there international shipping?"], "worldwide",
     "Yes, we ship worldwide."),
    (["How much is delivery?", "What does shipping cost?", "Is delivery free?"], "over 50 euros",
     "Delivery is free over 50 euros, otherwise 5 euros."),
    (["How do I reset my password?", "I forgot my password.", "Password reset?"], "forgot password",
     "Click the Forgot password link on the login page."),
    (["Can I pay by card?", "Which payment methods do you take?", "Do you accept PayPal?"], "paypal",
     "We take cards and PayPal."),
]


def main() -> None:
    parser = argparse.ArgumentParser(description="A support bot that learns from thumbs-up.")
    parser.add_argument("--chats", type=int, default=96)
    parser.add_argument("--max-steps", type=int, default=-1, help="cap each distillation's training steps")
    parser.add_argument("--run-dir", type=Path, default=None)
    args = parser.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="support-bot-"))

    pool = LocalModelPool()
    settings = LearnerConfig(every=8, gate_share=0.25, poll_s=2.0, lora=LoraTrainingConfig(max_steps=args.max_steps))
    learner = Learner(pool, run_dir, config=settings).start()   # distils in the background from here on
    memory = FewShotMemory(learner.library, "support", FewShotConfig(k=2))
    prompt = ChatPromptTemplate.from_messages([("system", "You are a shop's support agent. Answer in one sentence."),
                                               ("user", "{question}")])
    app = prompt | memory.wrap(pool.model("support", max_tokens=24)) | StrOutputParser()   # the app

    rng = random.Random(0)
    thumbs = []
    for chat in range(args.chats):
        asks, fact, answer = rng.choice(FAQ)
        reply = app.invoke({"question": rng.choice(asks)}, learner.config(episode=f"chat-{chat}"))
        good = fact.lower() in reply.lower()
        thumbs.append(good)
        # the user's thumbs: up, or down with what the answer should have said
        learner.feedback(f"chat-{chat}", reward=float(good), correction=None if good else answer)
    learner.stop(finish_current=True)   # a distillation under way finishes and is gated
    learner.step()                      # and what is due now is distilled before the app exits
    status = learner.status()
    half = len(thumbs) // 2
    print(f"thumbs-up rate: first half {sum(thumbs[:half]) / max(1, half):.2f}, "
          f"second half {sum(thumbs[half:]) / max(1, len(thumbs) - half):.2f} (n={half} each)")
    print(f"promoted {status['promoted']}, refused {status['refused']}, rolled back {status['rolled_back']}; "
          f"serving {status['serving'] or {'support': None}}")
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    main()
