"""the outbox's insert sentinel: several rows written together go in one INSERT on SQLite too
(SQLite cannot tie the ids RETURNING gives back to the rows without a client-side value; #11)

Revision ID: 0006_outbox_sentinel
Revises: 0005_lean11
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_outbox_sentinel'
down_revision = '0005_lean11'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('sentinel', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('sentinel')
