"""Review sentiment, served by mlgen's custom framework.

Each instance is a review's text; each prediction is {"label": ..., "score": P(positive)},
from a bag-of-words logistic model whose weights are the model file (`source`).
"""

import json
import math
import re
from pathlib import Path

WORD = re.compile(r"[a-z']+")
# The files listed in `[container] include` sit beside this one.
HERE = Path(__file__).parent


class Model:
    # Scoring is per text: one call may take the texts of several concurrent requests.
    batchable = True

    def load(self, path):
        model = json.loads(Path(path).read_text())
        self.bias = model["bias"]
        self.weights = model["weights"]
        self.labels = json.loads((HERE / "labels.json").read_text())

    def predict(self, instances):
        out = []
        for i, text in enumerate(instances):
            if not isinstance(text, str):
                # A ValueError is the client's mistake: the app answers 422 with this message.
                raise ValueError(f"instances[{i}] must be a review's text")
            words = WORD.findall(text.lower())
            z = self.bias + sum(self.weights.get(w, 0.0) for w in words)
            p = 1.0 / (1.0 + math.exp(-z))
            out.append({"label": self.labels[p >= 0.5], "score": round(p, 4)})
        return out
