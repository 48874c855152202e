"""Reproduction of paper 000 (Kang, Pedarsani & Ramchandran, the fair value of data under heterogeneous privacy).

:func:`checks` covers every golden test of docs/models/fair_value.md#golden (G1-G10), the
equilibrium-selection comparison at :math:`c = 0.45` and the knife-edge mixed
equilibrium at :math:`(c_1, c_2) = (0.275, 0.3)` (docs/models/fair_value.md#two-groups), the
structural facts of the federated utility (docs/models/fair_value.md#fl-structure: lone federator,
non-monotonicity, negative fair values) and the Fig. 5b shares of the starred
owner.  Every simulated number goes through the public API of
:mod:`market.theory.fair_value.fair_values`, :mod:`market.theory.fair_value.mean_estimation` and
:mod:`market.theory.fair_value.privacy_game`.

:func:`figures` writes analogues of Figs. 5-9 and the regime-shift time
series of a :class:`~market.simulation.model.DataMarket` run.  Figs. 5-7 are
qualitative: the paper omits the small data sizes, the sensitivity functions
and :math:`\\alpha` (docs/models/fair_value.md#nr-fig5-7); the choices here are those of docs/models/fair_value.md#nr-fig5-7
(config B) and of the ``p000_fig6`` scenario (five sensitivity types with
:math:`c_i(\\rho) = s_i\\,[0, 0.08, 1]_\\rho`, :math:`\\alpha = 0.5`).
Fig. 8 is exact; Fig. 9 uses the platform's favourite pure NE (docs/models/fair_value.md#two-groups).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.reproduce import Check
from market.simulation.model import DataMarket
from market.theory.fair_value.fair_values import fair_values_with_platform, shapley_exact
from market.theory.fair_value.mean_estimation import DPMeanEstimation, FederatedMeanEstimation
from market.theory.fair_value.privacy_game import (
    OwnerClasses,
    PrivacyGame,
    SymmetricBinaryGame,
    two_group_optimal_alpha,
)

#: Fig. 5 configuration B of docs/models/fair_value.md#nr-fig5-7: 4 direct, 5 federating, 1 out.
FIG5_RHO = np.array([2, 2, 2, 2, 1, 1, 1, 1, 1, 0])
FIG5_N = np.array([100, 100, 10, 10, 100, 100, 10, 10, 10, 10.0])
#: Owner groups of Fig. 5a: (rho = 2, n = 100), (2, 10), (1, 100), (1, 10), rho = 0.
FIG5_GROUPS = {"rho=2, n=100": [0, 1], "rho=2, n=10": [2, 3], "rho=1, n=100": [4, 5],
               "rho=1, n=10": [6, 7, 8], "rho=0": [9]}
#: The three heterogeneity regimes (s^2, r^2) of Fig. 5.
REGIMES = ((100.0, 1.0), (1.0, 10.0), (0.1, 100.0))
#: Fig. 6 owner classes (the p000_fig6 scenario): sizes, sensitivities, data sizes.
FIG6_CLASSES = OwnerClasses([2, 2, 2, 3, 1], np.outer([1.0, 2.0, 6.0, 4.2, 8.0], [0.0, 0.08, 1.0]),
                            [100, 10, 100, 10, 10])
FIG6_PROFILE = np.array([[0, 0, 2], [0, 0, 2], [0, 2, 0], [0, 3, 0], [1, 0, 0]])
FIG6_ALPHA = 0.5


def _fig5_values(s2: float, r2: float, importance: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    fl = FederatedMeanEstimation(s2, r2)
    a = np.ones(10) if importance is None else importance
    return shapley_exact(FIG5_RHO, lambda r: fl(r, FIG5_N, a)), float(fl(FIG5_RHO, FIG5_N, a))


def _dp_checks() -> list[Check]:
    dp = DPMeanEstimation()
    out = [Check(f"r({k} sharers) (eqs. 28, 32, 36)", v, float(dp.risk(k)), 1e-9, "docs/models/fair_value.md#g1")
           for k, v in ((0, 1 / 12), (1, 1 / 18), (2, 1 / 24))]
    out += [Check("U([inf, 0]) (eq. 10)", 2 / 3, float(dp(np.array([1, 0]))), 1e-9, "docs/models/fair_value.md#g1"),
            Check("U([inf, inf]) (eq. 10)", 1.0, float(dp(np.array([1, 1]))), 1e-9, "docs/models/fair_value.md#g1")]
    for eps, one, two in ((1.0, 2 / 27, 1 / 4), (2.0, 2 / 9, 4 / 7), (2 * np.sqrt(3), 2 / 5, 4 / 5)):
        d = DPMeanEstimation(eps)
        out += [Check(f"U([eps',0]), eps'={eps:.4g} (eq. 37)", one, float(d.utility_of_count(1)), 1e-9, "docs/models/fair_value.md#g1"),
                Check(f"U([eps',eps']), eps'={eps:.4g} (eq. 37)", two, float(d.utility_of_count(2)), 1e-9,
                      "docs/models/fair_value.md#g1"),
                Check(f"w* one sharer, eps'={eps:.4g} (eq. 31)", eps**2 / (3 * (eps**2 + 8)),
                      float(d.weight(1)), 1e-12, "docs/models/fair_value.md#g1"),
                Check(f"w* two sharers, eps'={eps:.4g} (eq. 35)", eps**2 / (4 * (eps**2 + 3)),
                      float(d.weight(2)), 1e-12, "docs/models/fair_value.md#g1")]
    pp, phi = fair_values_with_platform(np.array([1, 1]), dp)
    out += [Check("Thm 1 phi_p(inf, inf) (eq. 11)", 5 / 9, pp, 1e-9, "docs/models/fair_value.md#g2"),
            Check("Thm 1 phi_i(inf, inf) (eq. 11)", 2 / 9, float(phi[0]), 1e-9, "docs/models/fair_value.md#g2")]
    pp, phi = fair_values_with_platform(np.array([1, 0]), dp)
    out += [Check("Thm 1 phi_p(inf, 0)", 1 / 3, pp, 1e-9, "docs/models/fair_value.md#g2"),
            Check("Thm 1 phi_1(inf, 0) (corrected eq. 11)", 1 / 3, float(phi[0]), 1e-9, "docs/models/fair_value.md#g2"),
            Check("Thm 1 phi_2(inf, 0) (null player)", 0.0, float(phi[1]), 1e-9, "docs/models/fair_value.md#g2")]
    pp, phi = fair_values_with_platform(np.array([1, 1]), DPMeanEstimation(2.0))
    out += [Check("Thm 1 phi_p, eps'=2", 50 / 189, pp, 1e-9, "docs/models/fair_value.md#g2"),
            Check("Thm 1 phi_i, eps'=2", 29 / 189, float(phi[0]), 1e-9, "docs/models/fair_value.md#g2"),
            Check("Thm 2 phi_1(inf, 0)/alpha (corrected eq. 12)", 2 / 3,
                  float(shapley_exact(np.array([1, 0]), dp)[0]), 1e-9, "docs/models/fair_value.md#g3"),
            Check("Thm 2 phi_1(inf, inf)/alpha (eq. 12)", 0.5,
                  float(shapley_exact(np.array([1, 1]), dp)[0]), 1e-9, "docs/models/fair_value.md#g3"),
            Check("Thm 2 phi_1(0, inf) (null player)", 0.0,
                  float(shapley_exact(np.array([0, 1]), dp)[0]), 1e-12, "docs/models/fair_value.md#g3")]
    return out


def _theorem3_checks() -> list[Check]:
    game = SymmetricBinaryGame(DPMeanEstimation(), 2)
    out = [Check("gamma_min = gamma(0) (eq. 94)", 0.5, game.gamma_min, 1e-9, "docs/models/fair_value.md#g4"),
           Check("gamma_max = gamma(1) (eq. 94, Thm 3)", 2 / 3, game.gamma_max, 1e-9, "docs/models/fair_value.md#g4/#g6"),
           Check("U(p=0.5) (eq. 93)", 7 / 12, float(game.expected_utility(0.5)), 1e-9, "docs/models/fair_value.md#g4")]
    for c, alpha, p in ((0.3, 0.3, 1.0), (0.3, 0.5, 0.6), (0.3, 0.55, 3 / 11), (0.3, 0.61, 0.0),
                        (0.5, 0.8, 0.75), (0.5, 0.9, 1 / 3)):
        out.append(Check(f"p*(alpha={alpha}), c={c} (eq. 95)", p, float(game.p_star(alpha, c)), 1e-9, "docs/models/fair_value.md#g5"))
    table = ((0.1, 0.2, 0.8, 1.0, 0.0), (0.3, 0.6, 0.4, 1.0, 0.0), (0.4, 0.75, 0.213333, 0.853333, 0.2),
             (0.5, 6 / 7, 1 / 12, 7 / 12, 0.5), (0.6, 18 / 19, 0.013333, 0.253333, 0.8),
             (0.7, 0.0, 0.0, 0.0, 1.0), (0.9, 0.0, 0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0))
    for c, alpha, payoff, U, p in table:
        r = game.optimal_alpha(c, "symmetric_mixed")
        out += [Check(f"alpha*(c={c}) (eq. 97)", alpha, r.alpha, 1e-5, "docs/models/fair_value.md#g6"),
                Check(f"platform payoff (c={c})", payoff, r.platform_payoff, 1e-5, "docs/models/fair_value.md#g6"),
                Check(f"U(p*) (c={c})", U, r.utility, 1e-5, "docs/models/fair_value.md#g6"),
                Check(f"p* (c={c})", p, float(r.strategy), 1e-5, "docs/models/fair_value.md#g6")]
    out.append(Check("c_th via eq. 24 scan (Thm 3)", 1 / 3, game.sensitivity_threshold(1e-3), 1e-3, "docs/models/fair_value.md#g7"))
    out += [Check("c=0.45 platform payoff, symmetric mixed NE", 0.1408,
                  game.optimal_alpha(0.45, "symmetric_mixed").platform_payoff, 1e-4, "docs/models/fair_value.md#two-groups"),
            Check("c=0.45 platform payoff, favourite pure NE", 0.2167,
                  game.optimal_alpha(0.45, "platform_favourite").platform_payoff, 1e-4, "docs/models/fair_value.md#two-groups")]
    for cs, alpha, payoff in (((0.1, 0.1), 0.2, 0.8), ((0.3, 0.3), 0.6, 0.4), ((0.2, 0.05), 0.075, 0.616667),
                              ((0.5, 0.4), 0.6, 0.266667), ((0.4, 0.5), 0.6, 0.266667), ((0.7, 0.7), 0.0, 0.0)):
        r = two_group_optimal_alpha(DPMeanEstimation(), cs, include_mixed=False)
        out += [Check(f"two groups c={cs}: alpha* (eq. 26 corrected)", alpha, r.alpha, 1e-6, "docs/models/fair_value.md#g8"),
                Check(f"two groups c={cs}: platform payoff", payoff, r.platform_payoff, 1e-6, "docs/models/fair_value.md#g8")]
    knife = two_group_optimal_alpha(DPMeanEstimation(), (0.275, 0.3))
    out += [Check("two groups c=(0.275, 0.3), mixed NE: platform payoff", 0.4091, knife.platform_payoff, 1e-4,
                  "docs/models/fair_value.md#two-groups"),
            Check("two groups c=(0.275, 0.3), mixed NE: alpha* = 2 c1", 0.55, knife.alpha, 1e-6, "docs/models/fair_value.md#two-groups")]
    return out


def _federated_checks() -> list[Check]:
    fl = FederatedMeanEstimation(100.0, 1.0)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(30):
        n = rng.integers(1, 200, 6).astype(float)
        f = FederatedMeanEstimation(float(rng.uniform(0.01, 20)), float(rng.uniform(0.1, 20)))
        rho = np.r_[1, 2, rng.integers(0, 3, 4)]
        for i in range(6):
            w0, w = f.optimal_weights(i, rho, n)
            worst = max(worst, float(np.max(np.abs(np.r_[w0, w] - f.qp_weights(i, rho, n)))))
    single = np.zeros(10, dtype=int)
    single[0] = 2
    lone = single.copy()
    lone[0] = 1
    out = [Check("Prop. 5 weights minus QP optimum (max abs)", 0.0, worst, 1e-12, "docs/models/fair_value.md#g9"),
           Check("single sharer U (eq. 15 + 59)", 9.95291, float(fl(single, np.full(10, 100.0))), 1e-5, "docs/models/fair_value.md#g9"),
           Check("lone federator: U(1,0..) - U(2,0..) (App. D)", 0.0,
                 float(fl(lone, FIG5_N) - fl(single, FIG5_N)), 1e-12, "docs/models/fair_value.md#g9"),
           Check("U(0) (eq. 15)", 0.0, float(fl(np.zeros(10, dtype=int), FIG5_N)), 1e-12, "docs/models/fair_value.md#g9"),
           Check("U(1,1,0,..) (not monotone)", 5.123, float(fl(np.array([1, 1] + [0] * 8), FIG5_N)), 1e-3,
                 "docs/models/fair_value.md#fl-structure")]
    a = np.ones(10)
    a[4] = 100.0
    phi, U = _fig5_values(100.0, 1.0, a)
    out += [Check("star a=100 at rho=1: U", 131.4, U, 0.05, "docs/models/fair_value.md#fl-structure"),
            Check("star a=100 at rho=1: star's value", 247.4, float(phi[4]), 0.05, "docs/models/fair_value.md#fl-structure"),
            Check("star a=100 at rho=1: other rho=1 value (negative)", -42.0, float(phi[5]), 0.05, "docs/models/fair_value.md#fl-structure")]
    expected = {(100.0, 1.0): ([5.95, 3.65, -2.69, -3.27, -4.02], 40.23),
                (1.0, 10.0): ([2.48, -0.13, 0.53, -0.88, -3.12], 31.18),
                (0.1, 100.0): ([6.09, -1.88, 2.73, -2.82, -5.44], 54.36)}
    for (s2, r2), (devs, U_ref) in expected.items():
        phi, U = _fig5_values(s2, r2)
        out.append(Check(f"Fig. 5a U (s2={s2}, r2={r2})", U_ref, U, 0.01, "docs/models/fair_value.md#nr-fig5-7 / #g10"))
        for (label, idx), dev in zip(FIG5_GROUPS.items(), devs):
            out.append(Check(f"Fig. 5a phi - U/N, {label} (s2={s2})", dev, float(phi[idx].mean() - U / 10),
                             0.01, "docs/models/fair_value.md#nr-fig5-7 / #g10"))
    for s2, r2, share in ((100.0, 1.0, 0.93), (0.1, 100.0, 0.23)):
        a = np.ones(10)
        a[0] = 100.0
        phi, U = _fig5_values(s2, r2, a)
        out.append(Check(f"Fig. 5b starred (rho=2, n=100) share of U (s2={s2})", share, float(phi[0] / U), 0.01,
                         "docs/models/fair_value.md#nr-fig5-7"))
    game = PrivacyGame(fl, FIG6_CLASSES)
    out.append(Check("Fig. 6 configuration is a NE (1 = yes)", 1.0,
                     float(game.is_equilibrium(FIG6_PROFILE, FIG6_ALPHA)), 0.0, "paper Fig. 6"))
    return out


def checks() -> list[Check]:
    """Every golden quantity of docs/models/fair_value.md (G1-G10 and sections 3.4, 3.5, 4.5)."""
    return _dp_checks() + _theorem3_checks() + _federated_checks()


def figures(out_dir: Path) -> list[Path]:
    """Analogues of Figs. 5-9 and the regime-shift run, as PNG files in ``out_dir``."""
    import matplotlib  # lazy: heavy, figures only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    out_dir = Path(out_dir)
    paths = [_fig5(out_dir, plt), _fig6(out_dir, plt), _fig7(out_dir, plt), _fig8(out_dir, plt),
             _fig9(out_dir, plt), _regime_shift(out_dir, plt)]
    return paths


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fig5(out_dir: Path, plt) -> Path:
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharey="row")
    star = np.ones(10)
    star[0] = 100.0
    for row, importance in enumerate((None, star)):
        for ax, (s2, r2) in zip(axes[row], REGIMES):
            phi, U = _fig5_values(s2, r2, importance)
            labels = list(FIG5_GROUPS)
            ax.bar(labels, [phi[i].mean() - U / 10 for i in FIG5_GROUPS.values()],
                   color=sns_palette(len(labels)))
            ax.axhline(0, color="black", lw=0.8)
            ax.set_title(f"({'ab'[row]}) s2={s2:g}, r2={r2:g}" + (", owner 1 a=100" if row else ""))
            ax.tick_params(axis="x", rotation=35)
        axes[row, 0].set_ylabel("phi_i - U/N")
    fig.suptitle("Paper 000 Fig. 5: fair value minus average, 4 direct / 5 federating / 1 out (alpha = 1)")
    return _save(fig, out_dir / "p000_fig5_fair_values.png", plt)


def sns_palette(n: int):
    """Colour list for n bars."""
    import seaborn as sns  # lazy: heavy, figures only

    return sns.color_palette("deep", n)


def _fig6(out_dir: Path, plt) -> Path:
    game = PrivacyGame(FederatedMeanEstimation(100.0, 1.0), FIG6_CLASSES)
    u = game.deviation_values(FIG6_PROFILE) * FIG6_ALPHA
    fig, axes = plt.subplots(1, 5, figsize=(15, 3.6), sharey=True)
    for c, ax in enumerate(axes):
        level = int(np.argmax(FIG6_PROFILE[c] > 0))
        pay = u[c, level]
        cost = FIG6_CLASSES.cost[c]
        ax.scatter(cost, pay, s=40)
        best = int(np.argmax(pay - cost))
        ax.scatter([cost[best]], [pay[best]], marker="*", s=250, color="gold", edgecolor="black", zorder=3)
        lim = max(cost.max(), pay.max()) * 1.05
        ax.plot([0, lim], [0, lim], color="grey", lw=0.8, ls="--")
        for k in range(3):
            ax.annotate(f"rho={k}", (cost[k], pay[k]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_title(f"type {c + 1}: n={FIG6_CLASSES.data_size[c]:g}, s={cost[2]:g} (x{FIG6_CLASSES.size[c]})",
                     fontsize=9)
        ax.set_xlabel("c_i(rho)")
    axes[0].set_ylabel("alpha * phi_i(rho; rho_-i)")
    fig.suptitle("Paper 000 Fig. 6: payment vs privacy cost per level (star = best level; NE at alpha = 0.5)")
    return _save(fig, out_dir / "p000_fig6_nash_equilibrium.png", plt)


def _fig7(out_dir: Path, plt) -> Path:
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    alphas = np.linspace(0, 1, 201)
    for col, (label, s2, r2) in enumerate((("(a) homogeneous", 0.1, 100.0), ("(b) heterogeneous", 100.0, 1.0))):
        game = PrivacyGame(FederatedMeanEstimation(s2, r2), FIG6_CLASSES)
        best = game.platform_optimum()
        axes[0, col].plot(alphas, game.landscape(alphas), color="black")
        axes[0, col].axvline(best.alpha, color="red", ls="--", lw=0.8)
        axes[0, col].set_title(f"{label}: s2={s2:g}, r2={r2:g}; alpha*={best.alpha:.3f}")
        axes[0, col].set_xlabel("alpha")
        axes[0, col].set_ylabel("max over NE of (1-alpha) U")
        levels = np.concatenate([np.repeat(np.arange(3), best.strategy[c]) for c in range(len(FIG6_CLASSES.size))])
        owner_class = np.repeat(np.arange(len(FIG6_CLASSES.size)), FIG6_CLASSES.size)
        colours = sns_palette(len(FIG6_CLASSES.size))
        axes[1, col].bar(np.arange(levels.size), levels, color=[colours[c] for c in owner_class])
        axes[1, col].set_xticks(np.arange(levels.size),
                                [f"n={FIG6_CLASSES.data_size[c]:g}" for c in owner_class], rotation=45)
        axes[1, col].set_ylabel("rho_i at alpha*")
        axes[1, col].set_ylim(0, 2.2)
    fig.suptitle("Paper 000 Fig. 7: platform's design problem (eq. 19), favourite pure NE (colour = sensitivity type)")
    return _save(fig, out_dir / "p000_fig7_platform_design.png", plt)


def _fig8(out_dir: Path, plt) -> Path:
    game = SymmetricBinaryGame(DPMeanEstimation(), 2)
    cs = np.linspace(0.0, 1.0, 201)
    mixed = [game.optimal_alpha(c, "symmetric_mixed") for c in cs]
    favourite = [game.optimal_alpha(c, "platform_favourite") for c in cs]
    fig, axes = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    axes[0].plot(cs, [r.alpha for r in mixed], label="alpha* (symmetric mixed NE)")
    axes[0].plot(cs, [r.alpha for r in favourite], ls="--", label="alpha* (platform's favourite pure NE)")
    axes[0].set_ylabel("alpha*")
    axes[0].legend()
    axes[1].plot(cs, [r.utility for r in mixed], label="total utility U(p*)")
    axes[1].plot(cs, [r.alpha * r.utility / 2 for r in mixed], label="expected payment per user")
    axes[1].plot(cs, [r.platform_payoff for r in mixed], label="platform payoff (1-alpha*)U")
    axes[1].plot(cs, [r.platform_payoff for r in favourite], ls="--", label="platform payoff, favourite NE")
    for ax in axes:
        for b in (1 / 3, 2 / 3):
            ax.axvline(b, color="grey", lw=0.8, ls=":")
    axes[1].set_xlabel("privacy sensitivity c")
    axes[1].legend(fontsize=8)
    fig.suptitle("Paper 000 Fig. 8: N = 2, eps' = inf\nregimes split at c_th = 1/3 and gamma_max = 2/3")
    return _save(fig, out_dir / "p000_fig8_alpha_star.png", plt)


def _fig9(out_dir: Path, plt) -> Path:
    grid = np.linspace(0.0, 1.0, 26)
    pay2 = np.zeros((grid.size, grid.size))
    share = np.zeros_like(pay2)
    utility = DPMeanEstimation()
    game = SymmetricBinaryGame(utility, 2)
    for i, c1 in enumerate(grid):
        for j, c2 in enumerate(grid):
            r = two_group_optimal_alpha(utility, (float(c1), float(c2)), include_mixed=False)
            s1, s2 = r.strategy
            phi2 = game.share_values[int(s1[1])] if s2[1] == 1 else 0.0
            pay2[j, i] = r.alpha * phi2
            share[j, i] = r.platform_payoff / r.utility if r.utility > 0 else 0.0
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, data, title in ((axes[0], pay2, "payment to user 2"), (axes[1], share, "platform's share of U")):
        im = ax.imshow(data, origin="lower", extent=(0, 1, 0, 1), cmap="viridis", aspect="auto")
        fig.colorbar(im, ax=ax)
        ax.set_xlabel("c_1")
        ax.set_ylabel("c_2")
        ax.set_title(title)
    fig.suptitle("Paper 000 Fig. 9: two sensitivities, platform's favourite pure NE (eq. 26, corrected objective)")
    return _save(fig, out_dir / "p000_fig9_two_groups.png", plt)


def _regime_shift(out_dir: Path, plt) -> Path:
    model = DataMarket("p000_regime_shift", overrides=["mechanism.alpha_grid=201"])
    model.run()
    f = model.model_frame()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(f["round"], f["alpha"], label="alpha (platform)")
    ax.plot(f["round"], f["share_1"], label="share of owners sharing")
    ax.plot(f["round"], f["platform_share"].where(f["utility_U"] > 0), label="platform's share of U")
    ax.plot(f["round"], f["total_payments"], label="total payments")
    ax.set_xlabel("round (privacy sensitivity drifts upward)")
    ax.legend(fontsize=8)
    ax.set_title("Paper 000 regime shift: all share -> mixed population -> no incentives (p000_regime_shift)")
    return _save(fig, out_dir / "p000_regime_shift.png", plt)
