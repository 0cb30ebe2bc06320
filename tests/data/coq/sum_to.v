(* Needs induction: no closing tactic proves it in one step at the top level. *)
Require Import Arith.

Fixpoint sum_to (n : nat) : nat :=
  match n with
  | 0 => 0
  | S m => n + sum_to m
  end.

Theorem sum_to_closed : forall n : nat, 2 * sum_to n = n * (n + 1).
Proof.
Admitted.
