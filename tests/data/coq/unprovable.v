(* A false statement: every search must fail on it (used to test budgets and stopping). *)
Require Import Arith.

Theorem unprovable : forall n : nat, n + 1 = n.
Proof.
Admitted.
