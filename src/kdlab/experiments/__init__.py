"""Real-data experiments (need the optional extra ``kdlab[torch]``).

Import the experiment modules explicitly (``from kdlab.experiments import digits``): this
package does not import PyTorch itself, so ``import kdlab.experiments`` works without it.
"""

__all__ = ["digits"]
