"""`python -m t5eval ...` (also what `torchrun -m t5eval ...` runs)."""

from t5eval.cli import main

if __name__ == "__main__":
    main()
