"""Reproduction of paper 004 (the value of data privacy with an untrusted collector).

:func:`checks` covers every golden test of docs/models/value_of_privacy.md#golden (GT1-GT10) with
:math:`\\theta = 0.8`, :math:`P_W(1) = 0.7` and :math:`g(\\varepsilon) = \\varepsilon` unless
stated: :math:`V_{LB}` (eq. 5), the genie mechanism (eq. 6), the parameters and
equilibrium payment of :math:`R(N, \\varepsilon)` (exact and Monte Carlo), the
identities of the Theorem 2 proof and the Nash-equilibrium check, the gap
:math:`\\times e^{Nd}`, :math:`\\tilde\\varepsilon` and the bounds of Theorem 3, Lemma 4's
homogeneous optimum, the error bound (21), and the pooling equilibria with
the best-response collapse at N = 11 (not at N = 50), the latter also through
DataMarket runs of ``p004_pooling_collapse`` / ``p004_pooling_stable`` (N = 50
and 100), with best response and with owners learning by Hedge.  Beyond the
listed numbers it checks the Theorem 2 rate in log space at N = 2000..20000, where the
gap underflows float64, and the maximum-likelihood (majority-vote) error of
docs/models/value_of_privacy.md#gt9.

Where the simulator decides what the paper leaves open (docs/models/value_of_privacy.md#simulator-choices):
non-participation is paid 0 by the genie mechanism; the collector's
estimator is MAP (ML as an option); repeated rounds draw a fresh *W* and
owners best-respond or learn against exact expected payments; the pooling
equilibria and their collapse are privmarket's findings, not the paper's
(docs/models/value_of_privacy.md#gt10).

One listed number is not reproduced exactly (docs/models/value_of_privacy.md#nr-gt8): GT8's best homogeneous payment
87.853 (at :math:`\\varepsilon \\approx 1.797`) comes from a grid search; the exact
infimum is 87.8157 at :math:`\\varepsilon = 1.7962` with N = 9 (checked with
mpmath), so the check has an absolute tolerance of 0.05.

:func:`figures` writes the Figure 2 analogue (Theorem 3's lower bound
:math:`(\\tilde N - 1) V_{LB}(\\tilde\\varepsilon)`, the leading upper term
:math:`\\tilde N V_{LB}(\\tilde\\varepsilon)` and the exact total payment of
:math:`R(\\tilde N, \\tilde\\varepsilon)` against :math:`\\tau \\in [0.001, 0.4]`), the value of
privacy (:math:`E[R(N, \\varepsilon)]` for several N beside :math:`V_{LB}(\\varepsilon)` and the
cost), and the pooling collapse over rounds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.reproduce import Check
from market.simulation.model import DataMarket
from market.theory.value_of_privacy.peer_prediction import (
    CostFunction,
    best_deviation,
    best_homogeneous_payment,
    best_ratio_epsilon,
    chernoff_information,
    convergence_rate,
    equilibrium_check,
    equilibrium_payment,
    equilibrium_payment_gap,
    equilibrium_payment_table,
    error_bound,
    genie_payment_table,
    log_equilibrium_payment_gap,
    mechanism_parameters,
    monte_carlo_payment,
    payment_accuracy,
    payment_coefficients,
    payment_excess_function,
    payment_scale,
    pooling_equilibria,
    strategy_payment,
    symmetric_best_response,
    value_lower_bound,
)
from market.theory.value_of_privacy.randomized_response import Strategy, map_error_iid

THETA, PRIOR1 = 0.8, 0.7
LINEAR = CostFunction("linear")
#: Owners that learn by Hedge (full-information multiplicative weights) instead of best-responding.
HEDGE = ["decision.rule=hedge", "decision.learning_rate=1.0"]


def _rel(value: float, rel: float = 1e-6) -> float:
    return abs(value) * rel


def collapse_path(start_xi: float, n_owners: int, rounds: int = 20) -> list[tuple[str, float]]:
    """Symmetric best-response iteration from everyone at the :math:`\\xi`-strategy (docs/models/value_of_privacy.md#gt10)."""
    strategy = Strategy.randomized_response(start_xi)
    path = []
    for _ in range(rounds):
        best = symmetric_best_response(strategy, n_owners, 1.0, THETA, PRIOR1, LINEAR)
        path.append((str(best.label[0]), float(best.xi[0])))
        strategy = best.strategy
    return path


def checks() -> list[Check]:
    """Every golden number of docs/models/value_of_privacy.md#golden."""
    out: list[Check] = []
    add = out.append
    # GT1
    for eps, cost, golden, label in ((1.0, LINEAR, 5.413669, "V_LB(1)"), (2.0, LINEAR, 11.563853, "V_LB(2)"),
                                     (0.5, LINEAR, 4.067139, "V_LB(0.5)"), (1e-9, LINEAR, 3.333333, "V_LB(0+)"),
                                     (1.0, CostFunction("power", 1.0, 2.0), 10.827338, "V_LB(1), g = eps^2"),
                                     (0.1, CostFunction("power", 1.0, 2.0), 0.688368, "V_LB(0.1), g = eps^2")):
        add(Check(label, golden, float(value_lower_bound(eps, THETA, cost)), _rel(golden), "docs/models/value_of_privacy.md#gt1, eq. 5"))
    # GT2
    for prior in (0.3, 0.7):
        table = genie_payment_table(1.0, THETA, prior, LINEAR)
        add(Check(f"genie E[R] at eps = 1, P_W(1) = {prior}", 5.413669,
                  float(strategy_payment(table, Strategy.randomized_response(1.0), THETA, prior)), 1e-5,
                  "docs/models/value_of_privacy.md#gt2, eq. 6"))
    k1, k0, l1, l0 = payment_coefficients(genie_payment_table(1.0, THETA, PRIOR1, LINEAR), THETA, PRIOR1)
    add(Check("genie K1 - K0", 5.086161, float((k1 - l1) - (k0 - l0)), 1e-5, "docs/models/value_of_privacy.md#gt2, eq. 7"))
    best = best_deviation(np.array([[k1, k0, l1, l0]]), LINEAR)
    add(Check("genie argmax xi", 1.0, float(best.xi[0]), 1e-6, "docs/models/value_of_privacy.md#gt2"))
    add(Check("genie equilibrium utility", 4.413669, float(best.utility[0]), 1e-5, "docs/models/value_of_privacy.md#gt2"))
    # GT3
    for n, beta, gamma, a11, a00, pay in ((2, 0.638635, 1.0, 12.724560, 15.899163, 19.149462),
                                          (11, 0.726050, 0.835034, 5.904410, 6.957274, 9.297480)):
        par = mechanism_parameters(n, 1.0, THETA, PRIOR1)
        add(Check(f"beta({n})", beta, float(par.beta), 1e-6, "docs/models/value_of_privacy.md#gt3"))
        add(Check(f"gamma({n})", gamma, float(par.gamma), 1e-6, "docs/models/value_of_privacy.md#gt3"))
        add(Check(f"A11 (N = {n})", a11, float(par.a11), _rel(a11), "docs/models/value_of_privacy.md#gt3"))
        add(Check(f"A00 (N = {n})", a00, float(par.a00), _rel(a00), "docs/models/value_of_privacy.md#gt3"))
        add(Check(f"E[R_i] (N = {n})", pay, float(equilibrium_payment(n, 1.0, THETA, PRIOR1, LINEAR)),
                  _rel(pay), "docs/models/value_of_privacy.md#gt3"))
    add(Check("E[R_i] (N = 100)", 5.441778, float(equilibrium_payment(100, 1.0, THETA, PRIOR1, LINEAR)),
              _rel(5.441778), "docs/models/value_of_privacy.md#gt3"))
    mean, se = monte_carlo_payment(11, 1.0, THETA, PRIOR1, LINEAR, 400_000, np.random.default_rng(4))
    add(Check("Monte Carlo E[R_i] (N = 11, 4e5 rounds)", 9.297480, mean, max(0.002 * 9.29748, 4 * se),
              "docs/models/value_of_privacy.md#gt3 (0.2%)"))
    # GT4
    kappa = float(payment_scale(1.0, LINEAR))
    add(Check("kappa(1)", 2.543081, kappa, 1e-6, "docs/models/value_of_privacy.md#gt4"))
    k1, k0, l1, l0 = payment_coefficients(equilibrium_payment_table(11, 1.0, THETA, PRIOR1) * kappa, THETA, PRIOR1)
    add(Check("K1 - L1 = kappa (N = 11)", kappa, float(k1 - l1), 1e-9, "docs/models/value_of_privacy.md#gt4"))
    add(Check("K0 - L0 = -kappa (N = 11)", -kappa, float(k0 - l0), 1e-9, "docs/models/value_of_privacy.md#gt4"))
    add(Check("K1 + K0 (N = 11)", 8.122279, float(k1 + k0), 1e-5, "docs/models/value_of_privacy.md#gt4"))
    add(Check("L1 + L0 (N = 11)", 8.122279, float(l1 + l0), 1e-5, "docs/models/value_of_privacy.md#gt4"))
    for eps, margin in ((1.0, 0.175201), (0.5, 0.021095), (2.0, 1.626860)):
        check = equilibrium_check(Strategy.randomized_response(np.full(11, eps)), eps, THETA, PRIOR1, LINEAR)
        table = equilibrium_payment_table(11, eps, THETA, PRIOR1) * float(payment_scale(eps, LINEAR))
        c = payment_coefficients(table, THETA, PRIOR1)
        add(Check(f"informative margin at eps = {eps}", margin,
                  float(check.utility[0] - max(c[0] + c[1], c[2] + c[3])), 1e-6, "docs/models/value_of_privacy.md#gt4"))
    for n in (2, 11, 50):
        check = equilibrium_check(Strategy.randomized_response(np.full(n, 1.0)), 1.0, THETA, PRIOR1, LINEAR)
        add(Check(f"max deviation gain from all-eps (N = {n})", 0.0, float(check.gain.max()), 1e-9,
                  "docs/models/value_of_privacy.md#gt4, Theorem 2"))
        add(Check(f"best response xi (N = {n})", 1.0, float(check.best.xi[0]), 1e-6, "docs/models/value_of_privacy.md#gt4"))
    check = equilibrium_check(Strategy.randomized_response(np.full(50, 1.0)), 1.0, THETA, PRIOR1, LINEAR)
    add(Check("informative NE utility (N = 50)", 4.697840, float(check.utility[0]), 1e-6, "docs/models/value_of_privacy.md#gt4"))
    # GT5
    d = float(convergence_rate(1.0, THETA))
    add(Check("d(1) (eq. 15)", 0.039997, d, 1e-6, "docs/models/value_of_privacy.md#gt5"))
    for n, golden in ((2, 14.88), (100, 1.53), (400, 0.818), (800, 0.587), (1600, 0.418)):
        gap = float(equilibrium_payment_gap(n, 1.0, THETA, PRIOR1, LINEAR))
        add(Check(f"gap * e^(N d) (N = {n})", golden, gap * math.exp(n * d), 0.006 * golden, "docs/models/value_of_privacy.md#gt5"))
    sizes = np.arange(2, 401)
    above = equilibrium_payment(sizes, 1.0, THETA, PRIOR1, LINEAR) > value_lower_bound(1.0, THETA, LINEAR)
    add(Check("E[R_i] > V_LB for all N = 2..400 (1 = yes)", 1, float(np.all(above)), 0, "docs/models/value_of_privacy.md#gt5, Theorem 1"))
    sizes = np.arange(200, 1001, 50)
    slope = float(np.polyfit(sizes, np.log(equilibrium_payment_gap(sizes, 1.0, THETA, PRIOR1, LINEAR)), 1)[0])
    add(Check("slope of log gap vs N, N = 200..1000 (= -d up to N^-1/2)", -d, slope, 0.1 * d, "Theorem 2"))
    sizes = np.arange(2000, 20001, 1000)
    log_gap = log_equilibrium_payment_gap(sizes, 1.0, THETA, PRIOR1, LINEAR)
    add(Check("slope of log gap vs N, N = 2000..20000 (log space)", -d, float(np.polyfit(sizes, log_gap, 1)[0]),
              0.006 * d, "Theorem 2"))
    add(Check("same, N^-1/2 prefactor removed", -d,
              float(np.polyfit(sizes, log_gap + 0.5 * np.log(sizes), 1)[0]), 1e-4 * d, "Theorem 2"))
    add(Check("ln gap (N = 20000; gap 4.6e-349 underflows float64)", -802.0760057079154,
              float(log_gap[-1]), 1e-9, "mpmath, 60 digits"))
    # GT6
    par = mechanism_parameters(np.arange(2, 301), 1.0, THETA, PRIOR1)
    violation = float(np.max(par.gamma - np.exp(-(np.arange(2, 301) - 1) * d) - par.beta))
    add(Check("max (gamma - e^-(N-1)d - beta) <= 0", 0.0, max(violation, 0.0), 1e-15, "docs/models/value_of_privacy.md#gt6"))
    add(Check("h(1) with gamma = 1", 2.666667, float(payment_excess_function(1.0, 1.0, THETA, PRIOR1)), 1e-6,
              "docs/models/value_of_privacy.md#gt6"))
    beta = np.linspace(0.835034 / 2 + 1e-3, 0.835034, 400)
    add(Check("max increase of h on (gamma/2, gamma]", 0.0,
              max(float(np.max(np.diff(payment_excess_function(beta, 0.835034, THETA, PRIOR1)))), 0.0), 1e-12,
              "docs/models/value_of_privacy.md#gt6"))
    add(Check("d(1) - D(1)", 0.0, d - float(chernoff_information(1.0, THETA)), 1e-15, "docs/models/value_of_privacy.md#gt6"))
    # GT7
    eps_t = best_ratio_epsilon(THETA, LINEAR)
    add(Check("eps~", 1.730778, eps_t, 1e-6, "docs/models/value_of_privacy.md#gt7, eq. 20"))
    add(Check("max D/V_LB", 0.0104553, float(chernoff_information(eps_t, THETA) / value_lower_bound(eps_t, THETA,
                                                                                                     LINEAR)),
              1e-7, "docs/models/value_of_privacy.md#gt7"))
    for tau, n, lower, upper, total in ((0.01, 48, 434.865, 444.117, 445.170), (0.001, 72, 656.923, 666.176, 666.305),
                                        (0.4, 10, 83.272, 92.524, 111.121)):
        res = payment_accuracy(tau, THETA, PRIOR1, LINEAR)
        add(Check(f"N~ (tau = {tau})", n, res.n_owners, 0, "docs/models/value_of_privacy.md#gt7"))
        add(Check(f"(N~-1) V_LB (tau = {tau})", lower, res.lower, 1e-3, "docs/models/value_of_privacy.md#gt7, Theorem 3"))
        add(Check(f"N~ V_LB (tau = {tau})", upper, res.upper, 1e-3, "docs/models/value_of_privacy.md#gt7, Theorem 3"))
        add(Check(f"total of R(N~, eps~) (tau = {tau})", total, res.mechanism_total, 1e-3, "docs/models/value_of_privacy.md#gt7"))
        add(Check(f"N~ D(eps~) - ln(1/tau) >= 0 (tau = {tau})", 0.0,
                  min(res.n_owners * float(chernoff_information(res.epsilon, THETA)) - math.log(1 / tau), 0.0),
                  0.0, "docs/models/value_of_privacy.md#gt7"))
    for theta, golden in ((0.6, 1.725732), (0.9, 1.794105)):
        add(Check(f"eps~ (theta = {theta})", golden, best_ratio_epsilon(theta, LINEAR), 1e-6, "docs/models/value_of_privacy.md#gt7"))
    add(Check("eps~ (g = eps^2/2)", 1.090591, best_ratio_epsilon(THETA, CostFunction("power", 0.5, 2.0)), 1e-6,
              "docs/models/value_of_privacy.md#gt3"))
    # GT8
    total, eps_h, n_h = best_homogeneous_payment(0.4, THETA, LINEAR)
    add(Check("best homogeneous total (tau = 0.4)", 87.853, total, 0.05,
              "docs/models/value_of_privacy.md#gt8 (grid value; exact infimum 87.8157)"))
    add(Check("best homogeneous N (tau = 0.4)", 9, n_h, 0, "docs/models/value_of_privacy.md#gt8"))
    add(Check("best homogeneous eps (tau = 0.4)", 1.797, eps_h, 1e-3, "docs/models/value_of_privacy.md#gt8"))
    # GT9
    for n, eps, exact, bound in ((11, 1.0, 0.150038, 0.644055), (50, 1.0, 0.020255, 0.135353)):
        add(Check(f"MAP error (N = {n}, eps = {eps})", exact, map_error_iid(n, eps, THETA, PRIOR1), 1e-6, "docs/models/value_of_privacy.md#gt9"))
        add(Check(f"e^(-N D) (N = {n}, eps = {eps})", bound, error_bound(np.full(n, eps), THETA), 1e-6,
                  "docs/models/value_of_privacy.md#gt9, eq. 21"))
    add(Check("MAP error (N = 72, eps~)", 8.2e-5, map_error_iid(72, eps_t, THETA, PRIOR1), 2e-6, "docs/models/value_of_privacy.md#gt9"))
    add(Check("ML (majority-vote) error (N = 11, eps = 1)", 0.168597,
              map_error_iid(11, 1.0, THETA, PRIOR1, decision_prior=0.5), 1e-6, "docs/models/value_of_privacy.md#gt9"))
    add(Check("e^(-N D) (N = 72, eps~)", 9.44e-4, error_bound(np.full(72, eps_t), THETA), 2e-6, "docs/models/value_of_privacy.md#gt9"))
    # GT10
    found = {eq.label: eq for eq in pooling_equilibria(50, 1.0, THETA, PRIOR1, LINEAR)}
    add(Check("pooling NE 'always 0' utility (N = 50)", 14.621, found["always 0"].utility, 1e-3, "docs/models/value_of_privacy.md#gt10"))
    add(Check("pooling NE 'always 1' utility (N = 50)", 6.548, found["always 1"].utility, 1e-3, "docs/models/value_of_privacy.md#gt10"))
    add(Check("number of pooling NE (0, 1, abstain)", 3, len(found), 0, "docs/models/value_of_privacy.md#gt10"))
    down, up = collapse_path(0.95, 11), collapse_path(1.05, 11)
    add(Check("BR(0.95), N = 11", 0.8925, down[0][1], 1e-4, "docs/models/value_of_privacy.md#gt10"))
    add(Check("N = 11 from 0.95 ends in 'always 0' (1 = yes)", 1, float(down[-1][0] == "always 0"), 0, "docs/models/value_of_privacy.md#gt10"))
    add(Check("BR^3(1.05), N = 11", 1.238, up[2][1], 1e-3, "docs/models/value_of_privacy.md#gt10"))
    add(Check("N = 11 from 1.05 ends in 'always 1' (1 = yes)", 1, float(up[-1][0] == "always 1"), 0, "docs/models/value_of_privacy.md#gt10"))
    for n in (50, 100):
        for start in (0.95, 1.05):
            path = collapse_path(start, n)
            ok = all(label == "rr" for label, _ in path)
            add(Check(f"N = {n} from {start}: final xi (stays informative)", 1.0,
                      path[-1][1] if ok else math.nan, 1e-3, "docs/models/value_of_privacy.md#gt10"))

    for scenario, note, overrides, pooled in (("p004_pooling_collapse", "N = 11", [], 1.0),
                                              ("p004_pooling_stable", "N = 50", [], 0.0),
                                              ("p004_pooling_stable", "N = 100", ["population.owners=100"], 0.0),
                                              ("p004_pooling_collapse", "N = 11, Hedge", HEDGE, 1.0),
                                              ("p004_pooling_stable", "N = 50, Hedge", HEDGE, 0.0)):
        model = DataMarket(scenario, rounds=10, overrides=overrides)
        model.run()
        add(Check(f"DataMarket pooling flag, round 10 ({note})", pooled,
                  float(model.model_frame().pooling.iloc[-1]), 0, f"docs/models/value_of_privacy.md#gt10, {scenario}"))
    return out


def figures(out_dir: Path) -> list[Path]:
    """Figure 2 analogue, the value-of-privacy curves, and the pooling collapse over rounds."""
    import matplotlib  # lazy: heavy, figures only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns


    out_dir = Path(out_dir)
    sns.set_theme(style="whitegrid")
    paths = []

    taus = np.geomspace(0.001, 0.4, 400)
    eps_t = best_ratio_epsilon(THETA, LINEAR)
    n_t = np.maximum(2, np.ceil(np.log(1 / taus) / float(chernoff_information(eps_t, THETA)))).astype(int)
    vlb = float(value_lower_bound(eps_t, THETA, LINEAR))
    total = n_t * equilibrium_payment(n_t, eps_t, THETA, PRIOR1, LINEAR)  # = payment_accuracy(tau).mechanism_total
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.step(taus, (n_t - 1) * vlb, where="post", label=r"lower bound $(\tilde N-1)V_{LB}(\tilde\varepsilon)$")
    ax.step(taus, n_t * vlb, where="post", label=r"$\tilde N\, V_{LB}(\tilde\varepsilon)$", ls="--")
    ax.step(taus, total, where="post", label=r"upper bound: total payment of $R(\tilde N, \tilde\varepsilon)$")
    ax.set_xscale("log")
    ax.set_xlabel(r"accuracy target $\tau$")
    ax.set_ylabel("total payment")
    ax.set_title(r"Figure 2 analogue: $\theta=0.8$, $P_W(1)=0.7$, $g(\varepsilon)=\varepsilon$, "
                 rf"$\tilde\varepsilon$ = {eps_t:.4f}")
    ax.legend()
    fig.tight_layout()
    path = out_dir / "p004_figure2_payment_accuracy.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)

    eps = np.linspace(0.2, 3.0, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in (11, 20, 50, 100):
        ax.plot(eps, [float(equilibrium_payment(n, e, THETA, PRIOR1, LINEAR)) for e in eps], label=f"E[R(N={n}, eps)]")
    ax.plot(eps, value_lower_bound(eps, THETA, LINEAR), "k--", label=r"$V_{LB}(\varepsilon)$ (eq. 5)")
    ax.plot(eps, LINEAR(eps), "k:", label=r"privacy cost $g(\varepsilon)$")
    ax.set_ylim(0, 40)
    ax.set_xlabel(r"privacy level $\varepsilon$")
    ax.set_ylabel("expected payment per owner")
    ax.set_title("The value of privacy: payments of R(N, eps) approach V_LB")
    ax.legend()
    fig.tight_layout()
    path = out_dir / "p004_value_of_privacy.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for scenario, label in (("p004_pooling_collapse", "N = 11"), ("p004_pooling_stable", "N = 50")):
        model = DataMarket(scenario, rounds=20)
        model.run()
        frame = model.model_frame()
        axes[0].plot(frame["round"], frame["expected_error"], marker="o", label=label)
        axes[1].plot(frame["round"], frame["expected_payment"], marker="o", label=label)
    axes[0].set_ylabel("collector's MAP error")
    axes[1].set_ylabel("expected payment per owner")
    for ax in axes:
        ax.set_xlabel("round (best response from eps' = 0.95)")
        ax.legend()
    fig.suptitle("Pooling collapse of R(N, eps = 1): N = 11 collapses to 'always 0', N = 50 stays informative")
    fig.tight_layout()
    path = out_dir / "p004_pooling_collapse.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)
    return paths
