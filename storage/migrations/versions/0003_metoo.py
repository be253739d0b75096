"""accountability (#18): "me too" per request, decisions carried out (executions and their updates)

Revision ID: 0003_metoo
Revises: 0003_wishes
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003_metoo'
down_revision = '0003_wishes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('request_metoo',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('request_id', 'user_id')
    )
    op.create_table('executions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=True),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('remind_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('proposal_id')
    )
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index('ix_executions_due', ['community_id', 'done_at', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_executions_remind_at'), ['remind_at'], unique=False)

    op.create_table('execution_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('execution_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_execution_updates_execution_id'), ['execution_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('execution_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_execution_updates_execution_id'))

    op.drop_table('execution_updates')
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_executions_remind_at'))
        batch_op.drop_index('ix_executions_due')

    op.drop_table('executions')
    op.drop_table('request_metoo')
