"""The data owner: a Mesa agent whose state is a row of the model's arrays.

Per-round work never loops over ``DataOwner`` objects: the model updates the
arrays in :class:`market.core.population.OwnerArrays` directly.  A ``DataOwner`` is
the agent-level view of one row, for users who inspect or change individual
owners (``model.owner(unique_id)``, ``model.agents_by_type[DataOwner]``); reads
and writes go straight to the arrays, so the two can never disagree.  Views are
made on demand (:meth:`DataOwner.view`), so a population of millions holds no
per-owner Python object.
"""

from __future__ import annotations

import mesa


def _column(name: str, doc: str) -> property:
    def get(self: DataOwner) -> float:
        return float(getattr(self.model.owners, name)[self.row])

    def set_(self: DataOwner, value: float) -> None:
        getattr(self.model.owners, name)[self.row] = value

    return property(get, set_, doc=doc)


class DataOwner(mesa.Agent):
    """A data owner with a privacy sensitivity and a data set.

    Attributes
    ----------
    sensitivity : float
        Weight of the privacy cost of the owner's action.
    data_size : float
        Amount of data the owner holds.
    action : float
        Current action: a privacy level, a data amount or an epsilon.
    payment, cost, utility : float
        Last round's payment, privacy cost and utility.
    """

    sensitivity = _column("sensitivity", "Privacy sensitivity (weight of the privacy cost).")
    data_size = _column("data_size", "Amount of data the owner holds.")
    action = _column("action", "Current action (privacy level, data amount or epsilon).")
    payment = _column("payment", "Payment received in the last round.")
    cost = _column("cost", "Privacy cost borne in the last round.")
    utility = _column("utility", "Utility in the last round (payment + value - cost).")

    @classmethod
    def view(cls, model: mesa.Model, unique_id: int) -> DataOwner:
        """The view of the owner ``unique_id`` of ``model``.

        The id was taken from the model's Mesa id counter when the owner's row
        was added; the view is not registered with the model (the owners are
        its arrays, not its agent registry).
        """
        agent = cls.__new__(cls)
        agent.model, agent.unique_id, agent.pos = model, unique_id, None
        return agent

    @property
    def row(self) -> int:
        """The owner's row in ``model.owners`` (-1 once it has left)."""
        return int(self.model.owners.row_of[self.unique_id])

    def attribute(self, name: str) -> float:
        """A mechanism-specific attribute (e.g. ``"importance"``)."""
        return float(self.model.owners.extra[name][self.row])
