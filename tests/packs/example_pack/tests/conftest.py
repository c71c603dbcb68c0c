import sys
from pathlib import Path

# Lets the pack's tests run from a source checkout too; an installed pack is found either way.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
