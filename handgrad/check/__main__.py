"""python -m handgrad.check path/to/file.py:Name [--seed 0]  (see handgrad/check/command.py)"""
import sys

from handgrad.check.command import main

sys.exit(main())
