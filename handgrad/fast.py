"""The fast tier: the classifier's training update without the autograd engine.

``handgrad.functional`` is the reference tier: each backward is its derivative as written on
paper, and that is what a learner reads, what ``handgrad.nn``, ``handgrad.swap``,
``handgrad.routed()`` and ``models.MLP`` run. This module computes the same numbers as the
reference tier for the ops it covers (a stack of dense layers with one activation, and the
classifier's costs on its logits), but written for speed:

- activations applied in place to tensors that nothing else holds, and derivatives taken
  from the activation's output with float tricks (``sign`` instead of a boolean mask);
- a layout switch for large batches: the products run with the samples along the
  contiguous side, which BLAS multiplies faster there (``TRANSPOSED_FROM``);
- fused cost gradients: "softmax minus one-hot" built in place on the log-probabilities.

Only the classifier's no-autograd path (``handgrad.backprop``) and the benchmarks
(``experiments/bench_ops.py``) use it. ``tests/test_fast.py`` checks it against the
reference tier in float64 at ``rtol=1e-10``; docs/speed.md says what the speed buys.
"""
import torch

from handgrad.costs import targets_matrix

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default


def sigmoid_derivative(output):
    """sigma'(x) from y = sigma(x): y - y*y = y (1 - y), as a fresh tensor."""
    return torch.addcmul(output, output, output, value=-1)


def tanh_derivative(output):
    """tanh'(x) from y = tanh(x): 1 - y*y, as a fresh tensor."""
    one = torch.ones((), dtype=output.dtype, device=output.device)
    return torch.addcmul(one, output, output, value=-1)


def relu_derivative(output):
    """relu'(x) from y = relu(x): y >= 0, so sign(y) is exactly the 0/1 mask y > 0, as floats."""
    return torch.sign(output)


def leaky_relu_derivative(output, negative_slope=LEAKY_SLOPE):
    """leaky_relu'(x) for 0 < a <= 1, from y (which shares x's sign): sign(y) is -1, 0 or 1, and
    clamped from below at a it is exactly 1 where x > 0, else a."""
    return torch.sign(output).clamp_(min=negative_slope)


# name -> (activation applied in place to a fresh tensor, its derivative from the activation's output)
ACTIVATIONS = {
    "sigmoid": (torch.sigmoid_, sigmoid_derivative),
    "tanh": (torch.tanh_, tanh_derivative),
    "relu": (torch.relu_, relu_derivative),
    "leaky_relu": (lambda z: torch.nn.functional.leaky_relu_(z, LEAKY_SLOPE), leaky_relu_derivative),
}

# From this many samples on, the products run with the samples along the long, contiguous side;
# below it the plain product is the faster one (experiments/bench_ops.py measures both).
TRANSPOSED_FROM = 128


def affine(hidden, weight, bias):
    """h W^T + b: (N, in) @ (in, out) + (out,) -> (N, out)."""
    if len(hidden) >= TRANSPOSED_FROM:
        return torch.addmm(bias[:, None], weight, hidden.t()).t()  # (out, in) @ (in, N), viewed as (N, out)
    return torch.addmm(bias, hidden, weight.t())


def times_weight(delta, weight):
    """delta W: (N, out) @ (out, in) -> (N, in)."""
    if len(delta) >= TRANSPOSED_FROM:
        return weight.t().matmul(delta.t()).t()  # (in, out) @ (out, N), viewed as (N, in)
    return delta.matmul(weight)


def stack_forward(input, activation, params):
    """Logits z_L and the hidden activations h_1 .. h_{L-1}; params = (W_1, b_1, ..., W_L, b_L)."""
    apply_activation = ACTIVATIONS[activation][0]
    hidden, hiddens = input, []
    num_layers = len(params) // 2
    for layer in range(num_layers):
        weight, bias = params[2 * layer], params[2 * layer + 1]
        pre_activation = affine(hidden, weight, bias)  # (N, in) -> (N, out)
        if layer == num_layers - 1:
            return pre_activation, hiddens
        hidden = apply_activation(pre_activation)  # in place: pre_activation is fresh
        hiddens.append(hidden)


def stack_backprop(grad_output, input, hiddens, weights, activation):
    """Backpropagation through the stack: [dL/dW_1, dL/db_1, ..., dL/dW_L, dL/db_L] from dL/dz_L.

    The same recursion as the reference DenseStackFunction: dL/dW_l = delta_l^T h_{l-1},
    dL/db_l = sum_n delta_l, delta_{l-1} = (delta_l W_l) * f'(z_{l-1}).
    """
    derivative = ACTIVATIONS[activation][1]
    hiddens = [input, *hiddens]
    grads = [None] * (2 * len(weights))
    delta = grad_output  # dL/dz_L, (N, out)
    for layer in reversed(range(len(weights))):
        grads[2 * layer] = delta.t().matmul(hiddens[layer])  # (out, N) @ (N, in) -> (out, in)
        grads[2 * layer + 1] = delta.sum(0)  # (N, out) -> (out,)
        if layer > 0:
            # dL/dz_{l-1}, updated in place: the derivative is a fresh tensor
            delta = derivative(hiddens[layer]).mul_(times_weight(delta, weights[layer]))
    return grads


def log_softmax_rows(logits):
    """log_softmax along dim 1. Logits that come with the samples along the contiguous side
    (see ``affine``) are normalised as the transposed, contiguous tensor along dim 0, where
    torch's kernel runs faster; the same formula."""
    if logits.stride(0) == 1 and logits.stride(1) != 1:
        return torch.log_softmax(logits.t(), 0).t()
    return torch.log_softmax(logits, 1)


def cost_and_logit_grad(logits, targets, name, scale):
    """The cost summed over the samples times ``scale``, and its gradient w.r.t. the logits.

    The same numbers as the reference tier's cost of ``handgrad.costs`` (cross_entropy,
    nll_loss after log_softmax, mse_loss and binary_cross_entropy_with_logits), without their options.
    """
    if name in ("cross_entropy", "nll"):  # nll after log_softmax is the same cost as cross-entropy
        log_prob = log_softmax_rows(logits)
        rows = targets[:, None]
        value = log_prob.gather(1, rows).sum() * -scale  # -sum_n log p[n, y_n]
        grad = log_prob.exp_().mul_(scale)  # softmax ...
        return value, grad.scatter_add_(1, rows, grad.new_full(rows.shape, -scale))  # ... minus one-hot
    # the sigmoid costs, against t: the one-hot targets, or the class as a column for one output unit
    output = torch.sigmoid(logits)
    target = targets_matrix(logits, targets)
    error = output - target  # a - t
    if name == "bce":  # -[t log a + (1 - t) log(1 - a)], written on the logits so that it cannot overflow
        per_class = scale / logits.shape[1]
        value = (logits.clamp(min=0) - logits * target + torch.log1p(torch.exp(-logits.abs()))).sum() * per_class
        return value, error.mul_(per_class)  # d/dz of the bce of sigmoid(z) is a - t: no sigmoid' factor
    # mse averages over the classes as well; quadratic is half the squared distance, summed over classes
    per_class = scale / logits.shape[1] if name == "mse" else scale / 2
    value = error.square().sum() * per_class
    return value, error.mul_(2 * per_class).mul_(sigmoid_derivative(output))
