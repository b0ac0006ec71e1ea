import sys
from pathlib import Path

# Run from a checkout without installing: the packages live at the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
