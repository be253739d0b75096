"""names in other languages for communities, micro-grids and departments (#16)

Revision ID: 0002_names
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_names'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('department_names', sa.JSON(), server_default='{}', nullable=False))
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_column('names')
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_column('department_names')
        batch_op.drop_column('names')
