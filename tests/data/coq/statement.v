(* A small statement file in the miniF2F style: the proof is to be found. *)
Require Import Arith.

Definition double (n : nat) : nat := n + n.

Theorem double_le : forall n : nat, n <= double n.
Proof.
Admitted.
