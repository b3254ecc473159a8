"""How a trial estimates its candidate's error (`proxy: mode:` in the space file): the modes'
registry (`modes`), training from scratch with the proxy recipe (`scratch`) and slicing the
candidate out of the study's shared supernet parent (`supernet`)."""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "modes": ["Proxy", "ScratchProxy", "SupernetProxy", "make_proxy"],
    "scratch": ["CandidateResult", "evaluate_candidate"],
    "supernet": ["ParentStore", "SharedParent", "child_for"],
})
