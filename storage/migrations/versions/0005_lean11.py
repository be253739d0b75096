"""the directory's version: bumped by every change to communities, grids, chat bindings or
memberships, so each process's cache of them (`storage.cache`) knows when it is stale (#11)

Revision ID: 0005_lean11
Revises: 0004_names16
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_lean11'
down_revision = '0004_names16'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'directory_version',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('directory_version')
