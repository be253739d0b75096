"""partner organisations (共建单位): partners, the partner role's scope on memberships and
invitations, the resources list, requests routed to resources, contributions, items and
redemptions of points (#17)

Revision ID: 0003_partners
Revises: 0002_privacy
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003_partners'
down_revision = '0002_privacy'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'partners',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('name', _s(length=64), nullable=False),
        sa.Column('names', sa.JSON(), server_default='{}', nullable=False),
        sa.Column('kind', _s(length=16), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('community_id', 'name'),
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partners_community_id'), ['community_id'], unique=False)

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_memberships_partner_id'), ['partner_id'], unique=False)
        batch_op.create_foreign_key('fk_memberships_partner_id', 'partners', ['partner_id'], ['id'])
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partner_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_invitations_partner_id', 'partners', ['partner_id'], ['id'])

    op.create_table(
        'resources',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=True),
        sa.Column('kind', _s(length=16), nullable=False),
        sa.Column('title', _s(length=120), nullable=False),
        sa.Column('details', _s(), nullable=True),
        sa.Column('availability', _s(length=120), nullable=True),
        sa.Column('amount', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.create_index('ix_resources_list', ['community_id', 'active', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_resources_partner_id'), ['partner_id'], unique=False)

    op.create_table(
        'resource_routes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('resource_id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('status', _s(length=12), nullable=False),
        sa.Column('routed_by', sa.BigInteger(), nullable=False),
        sa.Column('member_id', sa.BigInteger(), nullable=True),
        sa.Column('note', _s(), nullable=True),
        sa.Column('hours', sa.Integer(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id']),
        sa.ForeignKeyConstraint(['request_id'], ['requests.id']),
        sa.ForeignKeyConstraint(['resource_id'], ['resources.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('resource_routes', schema=None) as batch_op:
        batch_op.create_index('ix_routes_partner', ['partner_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_routes_request_id'), ['request_id'], unique=False)

    op.create_table(
        'partner_contributions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('kind', _s(length=16), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('ref', _s(length=64), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
    )
    with op.batch_alter_table('partner_contributions', schema=None) as batch_op:
        batch_op.create_index('ix_contrib_partner', ['community_id', 'partner_id', 'kind'], unique=False)

    op.create_table(
        'partner_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('title', _s(length=120), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('stock', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('partner_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_items_partner_id'), ['partner_id'], unique=False)

    op.create_table(
        'redemptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('code', _s(length=12), nullable=False),
        sa.Column('status', _s(length=12), nullable=False),
        sa.Column('confirmed_by', sa.BigInteger(), nullable=True),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('confirmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.ForeignKeyConstraint(['item_id'], ['partner_items.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('community_id', 'code'),
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_user', ['user_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemptions_partner_id'), ['partner_id'], unique=False)


def downgrade() -> None:
    op.drop_table('redemptions')
    op.drop_table('partner_items')
    op.drop_table('partner_contributions')
    op.drop_table('resource_routes')
    op.drop_table('resources')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_constraint('fk_invitations_partner_id', type_='foreignkey')
        batch_op.drop_column('partner_id')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_constraint('fk_memberships_partner_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_memberships_partner_id'))
        batch_op.drop_column('partner_id')
    op.drop_table('partners')
