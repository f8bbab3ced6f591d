DROP INDEX agents_role_holders;
