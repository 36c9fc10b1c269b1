"""The ``minigrad derive`` and ``minigrad verify`` commands (plug-ins of ``minigrad.cli``)."""

import sys
import time

from .cell.registry import NAMES as MODELS  # the built-in kinds

LECTURE_FORMULAS = {
    "rnn": ["dh_t/dh_{t-1} = diag(1 - h_t**2) W_hh            (ReLU: diag(1[a_t > 0]) W_hh)"],
    "lstm": [
        "dh_t/dh_{t-1} = diag(tanh(c_t) o_t (1 - o_t)) W_ho + diag(o_t (1 - tanh(c_t)**2)) "
        "dc_t/dh_{t-1}",
        "dh_t/dc_{t-1} = diag(o_t (1 - tanh(c_t)**2) f_t)",
        "dc_t/dh_{t-1} = diag(c_{t-1} f_t (1 - f_t)) W_hf + diag(g_t i_t (1 - i_t)) W_hi "
        "+ diag(i_t (1 - g_t**2)) W_hg",
        "dc_t/dc_{t-1} = diag(f_t)                          (the direct cell path)",
    ],
    "gru": [
        "dh_t/dh_{t-1} = diag(z_t) + diag((h_{t-1} - n_t) z_t (1 - z_t)) W_hz",
        "              + diag((1 - z_t)(1 - n_t**2)) [diag(r_t) W_hn + diag((W_hn h_{t-1} + b_hn)"
        " r_t (1 - r_t)) W_hr]",
        "(diag(z_t): the update-gate path)",
    ],
}
_TITLES = {
    "rnn": "Elman RNN, traced from models.RNNCell: h_t = {act}(W_ih x_t + b_ih + W_hh h_{{t-1}} "
           "+ b_hh)",
    "lstm": "LSTM, traced from models.LSTMCell (gates i, f, g, o): c_t = f_t c_{{t-1}} + i_t g_t,"
            " h_t = o_t tanh(c_t)",
    "gru": "GRU, traced from models.GRUCell (gates r, z, n): h_t = (1 - z_t) n_t + z_t h_{{t-1}}",
}
_STATE = {"rnn": "dh_t/dh_{t-1}", "lstm": "d(h_t, c_t)/d(h_{t-1}, c_{t-1})",
          "gru": "dh_t/dh_{t-1}"}


def register_derive(subparsers):
    p = subparsers.add_parser(
        "derive", help="derive a recurrent cell's Jacobian, its T-step product and bound with "
        "sympy, from the model's own graph")
    p.add_argument("model", choices=MODELS)
    p.add_argument("--steps", type=int, default=3, metavar="T",
                   help="steps of the traced product dh_T/dh_0 (default 3)")
    p.add_argument("--latex", action="store_true", help="print the formulas as LaTeX")
    p.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh",
                   help="the Elman RNN's activation (default tanh)")
    p.set_defaults(func=run_derive)


def register_verify(subparsers):
    p = subparsers.add_parser(
        "verify", help="check every backward rule and every derived formula against the "
        "engine; non-zero exit code on any failure")
    p.add_argument("--quick", action="store_true", help="smaller sizes (H <= 2, T = 20)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_verify)


def _show(expr, latex):
    import sympy

    return sympy.latex(expr) if latex else str(expr)


def _entries(matrix, latex):
    if matrix.shape == (1, 1):
        return [_show(matrix[0, 0], latex)]
    if latex:
        return [_show(matrix, True)]
    return [f"[{i},{j}] {matrix[i, j]}" for i in range(matrix.rows) for j in range(matrix.cols)]


def _yes(flag):
    return "yes" if flag else "NO"


def derive_report(model, steps=3, latex=False, nonlinearity="tanh"):
    """The text ``minigrad derive`` prints (a list of lines)."""
    import sympy

    from minigrad.symbolic import ExpressionTooLargeError

    from . import theory

    nl = nonlinearity if model == "rnn" else "tanh"
    one = theory.derive_step(model, 1, 1, nl)
    two = theory.derive_step(model, 2, 1, nl)
    out = [_TITLES[model].format(act=nl), ""]
    out.append(f"one-step Jacobian {_STATE[model]}")
    out.append("  traced (H = 1, every weight symbolic):")
    out += ["    " + line for line in _entries(one.traced, latex)]
    out.append("  closed form (H = 1; traced, rewritten in the graph's gate/state nodes):")
    form = one.scalar_form() if model == "rnn" else one.textbook
    out += ["    " + line for line in _entries(form, latex)]
    out.append("  the lectures' formula, any H:")
    out += ["    " + line for line in LECTURE_FORMULAS[model]]
    out.append(f"  derived = lectures' formula: H = 1 {_yes(one.matches_textbook)}, "
               f"H = 2 {_yes(two.matches_textbook)} (exact, by expansion)")
    if model == "lstm":
        out.append(f"  direct cell path dc_t/dc_{{t-1}} = diag(f_t): {_yes(one.path_matches)}")
    out.append("")
    out.append(f"T-step product dS_T/dS_0, T = {steps} (traced from {model.upper()}(fused=False),"
               " steps read off the scopes t=k)")
    try:
        prod = theory.derive_product(model, steps, 1, nl, max_size=200_000)
    except ExpressionTooLargeError as err:
        out.append(f"  not traced: {err}")
        prod = None
    if prod is not None:
        if model == "rnn":
            out += ["    " + line for line in _entries(prod.product, latex)]
        else:
            size = sum(sympy.count_ops(e) for e in prod.product)
            out.append(f"  J_{steps} ... J_1 with J_t as above ({size} operations written out)")
        out.append(f"  traced Jacobian = product of one-step Jacobians: "
                   f"{_yes(prod.matches_product)}")
    general = theory.general_product(model, nl)
    label = {"rnn": "in general", "lstm": "direct cell path",
             "gru": "update-gate path"}[model]
    out.append(f"  {label}: {_show(general, latex)}")
    out.append("")
    out.append("bound")
    if model == "rnn":
        gamma = theory.activation_gamma(nl)
        conditions = theory.bounds.pmb_conditions(gamma)
        bound = theory.bounds.jacobian_bound(gamma, steps=sympy.Symbol("T") - sympy.Symbol("k"))
        out.append(f"  gamma = sup |{nl}'(x)| = {gamma}  (sympy, from the op's symbolic rule)")
        out.append(f"  ||dh_T/dh_k||_2 <= (gamma sigma_max(W_hh))**(T - k) = {_show(bound, latex)}")
        out.append(f"  vanishing, sufficient: {_show(conditions['vanishing_sufficient'], latex)}; "
                   f"exploding, necessary: {_show(conditions['exploding_necessary'], latex)}")
    else:
        gate = "f" if model == "lstm" else "z"
        out.append(f"  0 < {gate}_t < 1, so the {label} obeys ||prod diag({gate}_t)||_2 <= "
                   f"prod_t max_i {gate}_t,i <= 1: it cannot explode, and it carries the "
                   f"gradient unchanged while {gate} stays near 1")
    return out


def run_derive(args):
    if args.steps < 1:
        print(f"minigrad derive: --steps must be at least 1, got {args.steps}", file=sys.stderr)
        return 2
    for line in derive_report(args.model, args.steps, args.latex, args.nonlinearity):
        print(line)
    return 0


def format_table(rows):
    """The verify table: formula, worst error, tolerance, pass/fail, detail."""
    width = max(len(r.formula) for r in rows)
    lines = [f"{'formula':<{width}}  {'worst err':>10}  {'tol':>8}  result  detail",
             "-" * (width + 42)]
    for r in rows:
        lines.append(f"{r.formula:<{width}}  {r.error:>10.3g}  {r.tol:>8.3g}  "
                     f"{'pass' if r.passed else 'FAIL':<6}  {r.detail}")
    return lines


def run_verify(args):
    from . import theory

    start = time.perf_counter()
    rows = theory.run_checks(quick=args.quick, seed=args.seed)
    for line in format_table(rows):
        print(line)
    failed = [r for r in rows if not r.passed]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed in "
          f"{time.perf_counter() - start:.0f} s")
    return 1 if failed else 0
