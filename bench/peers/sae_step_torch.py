"""PyTorch peer of bench/sae_step.ts: one training step of the template's plain SAE (run0) at
the same shapes, with the same work per step as stages/sae/trainer.ts does:

    f = relu(x @ W_enc + (b_enc - b_dec @ W_enc)),  x_hat = f @ W_dec + b_dec
    loss = mean_b ||x - x_hat||_2 + l1 * mean_b ||f||_1
    Adam; the decoder gradient projected off each unit-norm decoder row; decoupled weight
    decay on W_enc and W_dec; decoder rows renormalised after the step.

The encoder is written as stages/sae/sae.ts writes it: x @ W_enc + (b_enc - b_dec @ W_enc) equals
(x - b_dec) @ W_enc + b_enc, and its backward pass needs no [batch, d_in] input gradient, so both
sides run the same five large products and the ratio compares the engines, not the algebra.

Prints one JSON object: the median seconds of the timed steps, torch's version and threads.

    python3 sae_step_torch.py --batch 2048 --d-in 2304 --d-sae 2304 --steps 5 --threads 2
"""
import argparse
import json
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--d-in", type=int, default=2304)
    parser.add_argument("--d-sae", type=int, default=2304)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    decoder = torch.randn(args.d_sae, args.d_in)
    decoder /= decoder.norm(dim=1, keepdim=True)
    w_dec = decoder.clone().requires_grad_()
    w_enc = decoder.t().clone().requires_grad_()
    b_enc = torch.zeros(args.d_sae, requires_grad=True)
    b_dec = torch.zeros(args.d_in, requires_grad=True)
    params = [w_enc, b_enc, w_dec, b_dec]
    lr, l1_penalty, weight_decay = 3e-4, 0.04, 0.01
    adam = torch.optim.Adam(params, lr=lr)
    x = torch.rand(args.batch, args.d_in) * 2 - 1

    def step():
        f = torch.relu(x @ w_enc + (b_enc - b_dec @ w_enc))
        x_hat = f @ w_dec + b_dec
        loss = (x - x_hat).norm(dim=1).mean() + l1_penalty * f.abs().sum(dim=1).mean()
        adam.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            grad = w_dec.grad
            grad -= (grad * w_dec).sum(dim=1, keepdim=True) * w_dec
        adam.step()
        with torch.no_grad():
            w_enc.mul_(1 - lr * weight_decay)
            w_dec.mul_(1 - lr * weight_decay)
            w_dec.div_(w_dec.norm(dim=1, keepdim=True))

    step()  # warm-up: allocations, thread pool
    seconds = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    print(json.dumps({
        "seconds": statistics.median(seconds),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
