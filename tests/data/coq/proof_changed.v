Require Import Arith.

Definition double (n : nat) : nat := n + n.

Theorem double_le : forall n : nat, 0 <= double n.
Proof.
  intros n. apply Nat.le_0_l.
Qed.
