"""The reference solutions (handgrad/solutions.py) plugged into the exercises, as an ops file:
what my_ops.py trains once every exercise in it is solved.

    handgrad fit --config experiments/configs/digits_yours.yaml --model.ops experiments/exercises/reference_ops.py

Each piece subclasses its exercise (the forward, the inputs the checker draws and the reference
all come from the exercise file) with the solution's backward or step in the learner's place.
"""
import cross_entropy
import gradient_descent
import linear
import sigmoid

from handgrad import solutions


class Linear(linear.Linear):
    backward = staticmethod(solutions.LinearFunction.backward)


class Sigmoid(sigmoid.Sigmoid):
    backward = staticmethod(solutions.SigmoidFunction.backward)


class CrossEntropy(cross_entropy.CrossEntropy):
    backward = staticmethod(solutions.CrossEntropyFunction.backward)


class GradientDescent(gradient_descent.GradientDescent):
    step = solutions.GradientDescent.step


Activation, Cost, Optimizer = Sigmoid, CrossEntropy, GradientDescent
lr = 0.5  # the learning rate of the Optimizer
