"""Your pieces, for training the digit classifier with them (step 8 of README.md here):

    handgrad fit --config experiments/configs/digits_yours.yaml --model.ops experiments/exercises/my_ops.py

Each name below is imported from the exercise file beside this one, where you wrote its
backward. Before the first update, fit checks each piece as `python -m handgrad.check`
does and stops, naming the piece and the command that shows why, when one fails.
Swap pieces freely: Activation = ReLU (from relu import ReLU), or the quadratic cost
with sigmoid outputs (Cost = QuadraticCost, Output = Sigmoid, and a larger lr).
"""
from cross_entropy import CrossEntropy as Cost
from gradient_descent import GradientDescent as Optimizer
from linear import Linear
from sigmoid import Sigmoid as Activation

lr = 0.5  # the learning rate of your Optimizer
